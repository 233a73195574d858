"""Per-unit numbers from the weights alone: the encoder-decoder angle and kind, recurrent and classifier norms."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.kinds import angles, kinds


@dataclass
class UnitTable:
    angle: np.ndarray  # (hidden,) radians between encoder row E_i and decoder column D_i
    kind: np.ndarray  # (hidden,) categorical | intermediate | part
    s_minus_i_norm: np.ndarray | None  # ‖(S − I)_i‖: how far unit i's recurrent input is from ISTA's identity
    s_self: np.ndarray | None  # S_ii
    c_norm: np.ndarray | None  # ‖C_i‖: the unit's weight in the classifier
    c_class: np.ndarray | None  # the class its classifier weights favour

    def __len__(self) -> int:
        return len(self.angle)


def unit_table(model, w=None) -> UnitTable:
    """From a model with filters (`w`: its unit_weights, where the caller has them); the recurrent and classifier
    columns where it has those weights."""
    w = model.unit_weights() if w is None else w
    theta = angles(w.encoder, w.decoder)  # ISTA ties E to Dᵀ (angle 0); categorical units drift far from it
    S, C = w.recurrent, w.classifier
    return UnitTable(
        angle=theta, kind=kinds(theta),
        s_minus_i_norm=None if S is None else np.linalg.norm(S - np.eye(len(S)), axis=1),
        s_self=None if S is None else np.diagonal(S).copy(),
        c_norm=None if C is None else np.linalg.norm(C, axis=0),
        c_class=None if C is None else C.argmax(0),
    )
