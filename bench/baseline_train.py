"""The plain baseline for bench/train_speed.py: the DrSAE written out in eager PyTorch, trained at
batch 100 with SGD, the norm bounds after each step. No tricks: what a first implementation looks like."""
import torch
import torch.nn.functional as F


class PlainDrSAE(torch.nn.Module):
    def __init__(self, n_in=784, hidden=400, unroll=11, lam=0.1):
        super().__init__()
        self.T, self.lam = unroll, lam
        self.E = torch.nn.Parameter(torch.randn(hidden, n_in) * 0.004)
        self.S = torch.nn.Parameter(torch.eye(hidden))
        self.b = torch.nn.Parameter(torch.zeros(hidden))
        self.D = torch.nn.Parameter(F.normalize(torch.randn(n_in, hidden), dim=0))
        self.C = torch.nn.Parameter(torch.randn(10, hidden) * 0.01)

    def forward(self, x):
        z = torch.zeros(x.shape[0], self.S.shape[0], device=x.device)
        for _ in range(self.T):
            z = torch.relu(x @ self.E.T + z @ self.S.T - self.b)
        return z


def step(model, opt, x, y):
    z = model(x)
    recon = 0.5 * ((x - z @ model.D.T) ** 2).sum(1).mean()
    logits = (z / (z.norm(dim=1, keepdim=True) + 1e-8)) @ model.C.T
    loss = recon + model.lam * z.sum(1).mean() + 0.2 * F.cross_entropy(logits, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    with torch.no_grad():
        model.D.div_(model.D.norm(dim=0, keepdim=True).clamp_min(1.0))
        model.E.mul_((0.125 / model.E.norm(dim=1, keepdim=True)).clamp(max=1.0))
        model.C.mul_((5.0 / model.C.norm(dim=1, keepdim=True)).clamp(max=1.0))
    return loss.item()


def make(device, hidden=400, unroll=11):
    model = PlainDrSAE(hidden=hidden, unroll=unroll).to(device)
    return model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
