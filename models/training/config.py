"""The training settings every family trains with (the loop, the optimiser, the average of the weights)."""
from __future__ import annotations

from dataclasses import dataclass

from models.settings import Config, setting

# What `train_on` trains on. "all" is the final fit on training and validation samples at an epoch count chosen on
# the split; its validation samples are then training samples, and its "validation" numbers training numbers.
TRAIN_ON = {"split": "the training samples (validation held out)", "all": "training and validation samples (final fit)"}


@dataclass(frozen=True)
class TrainConfig(Config):
    LEGACY = {"ema": 0.0}  # runs written before the average existed had none

    pretrain_epochs: int = setting(5, "Pre-training epochs (L_U)", "epochs on the unsupervised loss alone",
                                   min=0, max=10_000)
    epochs: int = setting(100, "Supervised epochs (L_U + L_S)", "epochs on L_U + w L_S, after pre-training",
                          min=0, max=100_000)
    batch_size: int = setting(50, "Batch size", "samples per optimizer update", min=1, max=1 << 20)
    lr: float = setting(0.0035, "Learning rate", "the optimizer's step size", min=1e-7, max=1.0)
    # cosine decay within each phase down to lr * this; 1 = a steady lr (see ema)
    min_lr_ratio: float = setting(1.0, "Final lr ratio", "cosine decay inside each phase to lr × this; "
                                  "1 = a steady lr (a run at a steady lr can be trained longer)",
                                  min=0.0, max=1.0, advanced=True)
    optimizer: str = setting("sgd", "Optimizer", "sgd with momentum (the DrSAE paper's), adam or adamax (the "
                             "structured VAE's)", choices={"sgd": "SGD with momentum", "adam": "Adam",
                                                           "adamax": "Adamax"}, advanced=True)
    c_lr_scale: float = setting(200.0, "Classifier lr ×", "sgd: the classifier's lr is this times lr",
                                min=0.0, max=1e4, advanced=True)
    # L_U + w L_S, as the paper (0.2 keeps more part units but errs more: docs/results.md)
    sup_weight: float = setting(1.0, "L_S weight (L_U + w·L_S)", "weight of the supervised loss", min=0.0,
                                max=100.0, advanced=True)
    momentum: float = setting(0.9, "Momentum", "sgd's momentum", min=0.0, max=1.0, max_open=True, advanced=True)
    # the recurrence can blow up an update
    grad_clip: float = setting(1.0, "Gradient clip", "largest norm of a batch's gradient (0 = off)", min=0.0,
                               max=1e6, advanced=True)
    # max norm of each digit's gradient before the batch mean (0 = off): a few digits' gradients explode
    # through the recurrence and fill the clipped batch update; cutting them learns no better (digit_clip.py)
    digit_clip: float = setting(0.0, "Per-sample gradient clip", "largest norm of each sample's gradient before "
                                "the batch mean (0 = off; DrSAE models)", min=0.0, max=1e6, advanced=True)
    # A steady lr keeps SGD's noise, which generalizes (a decayed lr fits the training set and errs more), and
    # the average removes the noise from the result: docs/results.md, "Recipe".
    ema: float = setting(0.9999, "Weight average (EMA decay)", "per-update decay of a moving average of the "
                         "weights; the average is the model validated and saved (0 = off)", min=0.0, max=1.0,
                         max_open=True, step=1e-5)
    seed: int = setting(0, "Seed", "initial weights and the order of the samples", min=0, max=2**31 - 1,
                        advanced=True)
    train_on: str = setting("split", "Train on", "the final fit also trains on the validation samples, at an epoch "
                            "count chosen on the split: its validation numbers are then training numbers",
                            choices=TRAIN_ON)
    limit: int | None = setting(None, "Samples per split", "keep the first n samples of each split (quick looks; "
                                "empty = all; a split on disk reads only those)", kind=int, min=1, optional=True)
    checkpoint_every: float = setting(60.0, "Checkpoint every (s)", "seconds between mid-epoch checkpoints",
                                      min=0.1, max=86_400.0, advanced=True)

    def __post_init__(self):
        super().__post_init__()
        if self.total_epochs < 1:
            raise ValueError("--pretrain-epochs plus --epochs must be at least 1")

    @property
    def total_epochs(self) -> int:
        return self.pretrain_epochs + self.epochs

    @property
    def extendable(self) -> bool:
        """A steady lr does not depend on the run's length, so more epochs continue the run; a cosine does."""
        return self.min_lr_ratio == 1.0


def train_config(family, **given) -> TrainConfig:
    """The training settings for a family (models/families): `given` over its defaults over everyone's."""
    return TrainConfig(**{**(family.train_defaults or {}), **given})
