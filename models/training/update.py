"""One training update: the model's objective (L_U, unless its family's fit_loss says otherwise) + w L_S + its
penalty on the weights, gradient clip (per digit, digit_clip.py, and per batch; the norm before clipping is
recorded), SGD with momentum, the model's constraints. Any model with `losses` and `project_` (models/families/base.py) trains with it.

No host sync per update: the batch's losses are summed on the device and read by `health` (twice a second and
before each checkpoint), so the CPU queues kernels ahead of the GPU. On CUDA the whole update (forward, backward,
clip, optimizer, bounds) is captured once as a CUDA graph and replayed: one launch instead of ~250 tiny kernels.
With `ema` > 0 the update also moves an exponential moving average of the weights (`average`), inside the graph.
"""
from __future__ import annotations

import copy
import math

import torch

from models.families.digit_clip import clip_weights

# acc holds, since the last reset: sums of recon, l1, sup over batches, the batch count, the largest loss
RECON, L1, SUP, COUNT, MAX = range(5)


class Diverged(RuntimeError):
    pass


class Updater:
    def __init__(self, model, opt: torch.optim.Optimizer, tc, graph: bool | None = None):
        self.model, self.opt, self.tc = model, opt, tc
        self.device = next(model.parameters()).device
        self.sgd = isinstance(opt, torch.optim.SGD)
        # The graph bakes in shapes and addresses; only our own SGD update keeps its lr on the device.
        self.use_graph = (self.device.type == "cuda" if graph is None else graph) and self.sgd
        self.lr = torch.zeros((), device=self.device)
        self.acc = torch.zeros(5, dtype=torch.float64, device=self.device)
        self.grad_norm = torch.zeros((), device=self.device)  # the last update's gradient norm (before clipping)
        self.grad_norms: list[torch.Tensor] = []  # this epoch's, kept on the device (no sync per update)
        if tc.digit_clip > 0 and not model.per_digit_clip:
            raise ValueError(f"--digit-clip works for DrSAE models only, not {type(model).__name__}")
        self.graph = None
        self._w = torch.zeros((), device=self.device)  # L_S weight inside the graph (0 while pre-training)
        self._w_value = None
        self.average = None  # the weights' moving average: a copy of the model beside it, never trained itself
        self.averaged = torch.zeros((), device=self.device)  # updates averaged so far (sets the warm-up)
        if tc.ema > 0:
            self.average = copy.deepcopy(model).requires_grad_(False)

    @property
    def output(self):
        """The model that is validated, checkpointed as the result and exported: the average when there is one."""
        return self.model if self.average is None else self.average

    # -- the update itself: one body for eager and graph ------------------------------------------

    def _body(self, x, y, w) -> None:
        L = self.model.losses(x, y, reduce=False)
        sup = L.get("sup")  # none for a model without a classifier
        per_digit = L["objective"] if w is None or sup is None else L["objective"] + w * sup
        loss = per_digit
        if self.tc.digit_clip > 0:
            norms = self.model.digit_grad_norms(x, per_digit, L["steps"], L["x_hat"], L["logits"])
            loss = per_digit * clip_weights(norms, self.tc.digit_clip)
        loss = loss.mean()
        penalty = self.model.penalty()
        if penalty is not None:
            loss = loss + penalty
        if not loss.requires_grad:  # nothing to learn in this phase (ISTA on a fixed dictionary, before labels)
            self._tally(L, sup, per_digit, torch.zeros((), device=self.device))
            return
        loss.backward()
        params = [p for p in self.model.parameters() if p.grad is not None]
        if self.tc.grad_clip > 0:  # the norm before clipping: its spread over training is recorded
            norm = torch.nn.utils.clip_grad_norm_(params, self.tc.grad_clip)
        else:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        self._update()
        self.model.project_()
        with torch.no_grad():
            if self.average is not None:
                # Warm-up: decay (1+n)/(10+n) until it reaches ema, so a short run averages its last ~10 %
                # rather than keeping its random start.
                self.averaged += 1
                weight = 1.0 - torch.clamp(self.averaged / (self.averaged + 9), max=self.tc.ema)
                for a, p in zip(self.average.parameters(), self.model.parameters()):
                    a.lerp_(p, weight)
                for a, b in zip(self.average.buffers(), self.model.buffers()):  # what follows the weights
                    a.copy_(b)
                # and the model's constraints: a mean of unit columns is not unit (ISTA's D; its step follows it)
                self.average.project_()
        self._tally(L, sup, per_digit, norm)

    @torch.no_grad()
    def _tally(self, L: dict, sup, per_digit: torch.Tensor, norm: torch.Tensor) -> None:
        """The batch's losses into this epoch's sums, and its gradient norm (before clipping)."""
        parts = [L["recon"], L["l1"], L["recon"].new_zeros(()) if sup is None else sup]
        self.acc[:COUNT] += torch.stack([v.detach().mean() for v in parts]).double()
        self.acc[COUNT] += 1
        self.acc[MAX] = torch.maximum(self.acc[MAX], per_digit.detach().mean().double())  # NaN: health() sees it
        self.grad_norm.copy_(norm)

    @torch.no_grad()
    def _update(self) -> None:
        """SGD with momentum as torch.optim.SGD computes it (buf = m buf + g, p -= lr buf), with the lr read
        from a device tensor so that a captured graph follows the schedule. State lives in the optimizer, so
        checkpoints keep their format."""
        if not self.sgd:
            self.opt.step()
            return
        for g in self.opt.param_groups:
            m = g["momentum"]
            for p in g["params"]:
                if p.grad is None:
                    continue
                state = self.opt.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    state["momentum_buffer"] = buf = p.grad.detach().clone()
                else:
                    buf.mul_(m).add_(p.grad)
                p.addcmul_(buf, self.lr, value=-g["lr_scale"])

    # -- public ----------------------------------------------------------------------------------

    def __call__(self, x: torch.Tensor, y: torch.Tensor | None, lr: float, supervised: bool) -> None:
        w = self.tc.sup_weight if supervised else 0.0
        self.lr.fill_(lr)
        if not self.sgd:
            for g in self.opt.param_groups:
                g["lr"] = lr * g["lr_scale"]
        if self.use_graph and (self.graph is None or x.shape == self.x.shape):
            if self.graph is None:
                self._capture(x, y)
            if w != self._w_value:
                self._w.fill_(w)
                self._w_value = w
            self.x.copy_(x)
            if y is not None:  # unlabelled data: no labels to copy
                self.y.copy_(y)
            self.graph.replay()
            self.grad_norms.append(self.grad_norm.clone())
            return
        # eager (CPU, Adam, or a short last batch): grads of a captured graph must stay where it wrote them
        self.opt.zero_grad(set_to_none=self.graph is None)
        self._body(x, y, w if supervised else None)
        self.grad_norms.append(self.grad_norm.clone())

    def health(self) -> float:
        """Syncs; raises Diverged if any loss since the last reset was non-finite or huge. Returns the mean loss."""
        a = self.acc.tolist()
        if not all(math.isfinite(v) for v in a) or a[MAX] > 1e6:
            raise Diverged(f"loss became {a[MAX] if math.isfinite(a[MAX]) else float('nan')}")
        return (a[RECON] + self.model.unsup_weight * a[L1]) / max(a[COUNT], 1)

    def grad_norm_stats(self) -> dict:
        """This epoch's per-update gradient norms: count, mean, standard deviation, median, max (syncs)."""
        if not self.grad_norms:
            return {}
        g = torch.stack(self.grad_norms).double().cpu()
        return {"grad_norm_n": len(g), "grad_norm_mean": g.mean().item(),
                "grad_norm_std": g.std(correction=0).item(), "grad_norm_median": g.median().item(),
                "grad_norm_max": g.max().item()}

    def reset(self, acc: torch.Tensor | None = None, grad_norms: torch.Tensor | None = None) -> None:
        """Start a new epoch's sums, or carry on from those (and the gradient norms) a checkpoint saved."""
        self.grad_norms.clear()
        self.acc.zero_()
        if acc is not None:
            self.acc[: len(acc)] = acc.to(self.device)
        if grad_norms is not None:
            self.grad_norms.extend(g.to(self.device) for g in grad_norms)

    def grad_norm_history(self) -> torch.Tensor:
        """This epoch's gradient norms so far, on the host (what a mid-epoch checkpoint keeps)."""
        return torch.stack(self.grad_norms).cpu() if self.grad_norms else torch.zeros(0)

    def _capture(self, x, y) -> None:
        """Warm up on a side stream (as CUDA graphs need), put the weights back, then capture one update."""
        self.x, self.y = x.clone(), None if y is None else y.clone()
        for g in self.opt.param_groups:  # a zero buffer gives the same first update as torch's clone of grad
            for p in g["params"]:
                self.opt.state[p].setdefault("momentum_buffer", torch.zeros_like(p))
        keep = [t.detach().clone() for t in self._state_tensors()]
        self._w.fill_(0.0)
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                self.opt.zero_grad(set_to_none=True)
                self._body(self.x, self.y, self._w)
        torch.cuda.current_stream().wait_stream(s)
        with torch.no_grad():
            for t, k in zip(self._state_tensors(), keep):
                t.copy_(k)
        self.opt.zero_grad(set_to_none=True)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self._body(self.x, self.y, self._w)
        self._w_value = None

    def _state_tensors(self) -> list[torch.Tensor]:
        ts = [p.data for p in self.model.parameters()] + list(self.model.buffers()) + [self.acc, self.grad_norm]
        if self.average is not None:
            ts += list(self.average.parameters()) + list(self.average.buffers()) + [self.averaged]
        return ts + [self.opt.state[p]["momentum_buffer"] for g in self.opt.param_groups for p in g["params"]]
