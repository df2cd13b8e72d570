"""The two towers' training loop on PyTorch: the numpy loop's batches, step and Adagrad, on a GPU when one is there.

PyTorch is optional (a Databricks ML runtime provides it; PyPI's wheel pulls gigabytes of CUDA libraries): this
module is imported only when ``training_device`` finds a device. The towers' inputs stay the numpy model's (one
row-normalised sparse input matrix per side, columns = rows of one embedding table); a batch's tower vectors are
``embedding_bag`` sums of those rows, and the gradients are written out as the numpy step writes them, so both loops
take the same steps from the same start (tests/models/test_two_tower_torch.py) and the model that comes out is the
numpy model's: the same arrays, saved and served the same way.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

log = logging.getLogger(__name__)


def training_device(use_gpu: bool) -> str | None:
    """``"cuda"`` when asked for and PyTorch sees a GPU; else None (the numpy loop trains)."""
    if not use_gpu:
        return None
    try:
        import torch
    except ImportError:
        return None
    return "cuda" if torch.cuda.is_available() else None


class _Rows:
    """A CSR matrix on the device: the entries of any set of its rows, as ``embedding_bag`` takes them."""

    def __init__(self, matrix: sp.csr_matrix, device: str):
        import torch

        self.indptr = torch.from_numpy(matrix.indptr.astype(np.int64)).to(device)
        self.indices = torch.from_numpy(matrix.indices.astype(np.int64)).to(device)
        self.data = torch.from_numpy(np.asarray(matrix.data, dtype=np.float32)).to(device)

    def entries(self, rows):
        """(columns, values, owner, offsets) of ``rows``' entries: owner = the position in ``rows`` of each."""
        import torch

        starts = self.indptr[rows]
        lengths = self.indptr[rows + 1] - starts
        offsets = torch.cumsum(lengths, 0) - lengths
        owner = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), lengths)
        positions = starts[owner] + torch.arange(len(owner), device=rows.device) - offsets[owner]
        return self.indices[positions], self.data[positions], owner, offsets


def train_on_torch(
    users_in: sp.csr_matrix,
    items_in: sp.csr_matrix,
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
    log_q: np.ndarray,
    table: Any,
    rng: np.random.Generator,
    params: dict[str, Any],
    device: str,
) -> None:
    """Train ``table`` (``two_tower._Table``: weights and Adagrad squares, updated in place) on ``pairs`` (users,
    items, weights) as the numpy loop does: per epoch a permutation from ``rng``, batches of ``batch_size``."""
    import torch
    import torch.nn.functional as F

    users_rows, items_rows = _Rows(users_in, device), _Rows(items_in, device)
    users, items, weights = (torch.from_numpy(a).to(device) for a in pairs)
    log_q_on = torch.from_numpy(log_q).to(device)
    W = torch.from_numpy(table.weights).to(device)
    squares = torch.from_numpy(table.squares).to(device)
    lr, reg, batch = params["learning_rate"], params["regularization"], params["batch_size"]
    threads = torch.get_num_threads()
    torch.set_num_threads(params["num_threads"])  # on the CPU (tests): the numpy loop's thread count
    start = time.perf_counter()
    try:
        with torch.no_grad():
            for epoch in range(params["epochs"]):
                order = torch.from_numpy(rng.permutation(len(pairs[0]))).to(device)
                loss = torch.zeros((), device=device)
                for at in range(0, len(order), batch):
                    chosen = order[at : at + batch]
                    u_cols, u_vals, u_owner, u_offsets = users_rows.entries(users[chosen])
                    i_cols, i_vals, i_owner, i_offsets = items_rows.entries(items[chosen])
                    user_vecs = F.embedding_bag(u_cols, W, u_offsets, mode="sum", per_sample_weights=u_vals)[:, :-1]
                    item_full = F.embedding_bag(i_cols, W, i_offsets, mode="sum", per_sample_weights=i_vals)
                    item_vecs, bias = item_full[:, :-1], item_full[:, -1]
                    probs = torch.softmax(user_vecs @ item_vecs.T + (bias - log_q_on[items[chosen]])[None, :], dim=1)
                    w = weights[chosen]
                    diagonal = torch.arange(len(chosen), device=device)
                    loss += -(w * torch.log(probs[diagonal, diagonal].clamp_min(1e-30))).sum() / w.sum() * len(chosen)
                    grad = probs
                    grad[diagonal, diagonal] -= 1.0
                    grad *= (w / w.sum())[:, None]
                    grad_items = torch.cat([grad.T @ user_vecs, grad.sum(dim=0)[:, None]], dim=1)
                    grad_users = F.pad(grad @ item_vecs, (0, 1))  # the users' side has no bias column
                    # each entry's row gets its value times its tower vector's gradient; shared rows sum
                    rows, where = torch.unique(torch.cat([u_cols, i_cols]), return_inverse=True)
                    summed = torch.zeros((len(rows), W.shape[1]), device=device).index_add_(
                        0,
                        where,
                        torch.cat([u_vals[:, None] * grad_users[u_owner], i_vals[:, None] * grad_items[i_owner]]),
                    )
                    gradient = summed + reg * W[rows]
                    squares[rows] += gradient * gradient
                    W[rows] -= lr * gradient / torch.sqrt(squares[rows])
                log.info(
                    "two-tower epoch %d/%d on %s: loss %.4f (%.1f s)",
                    epoch + 1,
                    params["epochs"],
                    device,
                    float(loss) / max(len(order), 1),
                    time.perf_counter() - start,
                )
    finally:
        torch.set_num_threads(threads)
    table.weights[:] = W.cpu().numpy()
    table.squares[:] = squares.cpu().numpy()
