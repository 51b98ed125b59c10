"""The classifier's training step: cross-entropy on randomly shifted images. The classifier is not
a generative family; it measures the others (scripts/evaluate.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from playground.data import load_tensors
from playground.models import Classifier
from playground.training.common import Defaults, Setup


def random_shift(x: torch.Tensor, pixels: int = 2) -> torch.Tensor:
    """Shift each image by up to `pixels` in each direction (the classifier's augmentation)."""
    n, _, h, w = x.shape
    xp = F.pad(x, (pixels,) * 4)
    dy, dx = torch.randint(0, 2 * pixels + 1, (2, n)).tolist()
    return torch.stack([xp[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])


class Trainer:
    defaults = Defaults(epochs=6, batch_size=128, lr=2e-3)

    def __init__(self, setup: Setup, config, initial: Classifier | None = None):
        self.setup, args = setup, setup.args
        model = initial or Classifier(config)
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=setup.total_steps)
        self.model, self.opt, self.sched, setup.loader = setup.accelerator.prepare(model, opt, sched, setup.loader)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        self.opt.zero_grad()
        loss = F.cross_entropy(self.model(random_shift(x)), y)
        self.setup.accelerator.backward(loss)
        self.opt.step()
        self.sched.step()
        return {"loss": loss.item()}

    @torch.no_grad()
    def test_accuracy(self) -> float:
        args = self.setup.args
        test_x, test_y = load_tensors(args.dataset, args.data_root, train=False)
        m = self.setup.accelerator.unwrap_model(self.model)
        pred = m.predict_proba(test_x).argmax(1).cpu()
        m.train()
        return (pred == test_y).float().mean().item()

    def epoch_record(self) -> dict:
        """What the loop adds to each epoch's log line."""
        return {"test_accuracy": self.test_accuracy()}

    def snapshot(self) -> None:
        return None

    def finish(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[Classifier, dict]:
        return self.setup.accelerator.unwrap_model(self.model), {"test_accuracy": self.test_accuracy()}
