"""What an experiment found: `Result`, this run's numbers beside the paper's.

A result is data, not a picture: rows of (what, this run, paper), the setup it ran with (its
keys are JSON keys, marked for translation, which a page shows with `_()`), the seed and seconds,
a curve to plot where there is one, notes, the paper's effects as checks that hold or not, and
the models for a size panel. `kdviz reproduce --json` prints `to_dict()`; kdviz.archive keeps it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from kdviz.i18n import N_, _


@dataclass
class Result:
    name: str
    title: str
    # {"what", "this run", "paper"}; paper None where it gives no number. Optional: "seeds" (each
    # seed's number; "this run" is their mean), "views" and "schedule" (how a student was trained)
    rows: list[dict]
    setup: dict  # what it ran with: {key: value}; keys are marked with N_ (JSON keys)
    seed: int
    seconds: float
    curve: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    # The paper's effect, as a claim this run's numbers confirm or not: {"effect", "holds"}
    checks: list[dict] = field(default_factory=list)
    # The models to put side by side in a size panel (kdviz.footprint):
    # {"model": label, "hidden": hidden sizes, "test errors": number (a mean over seeds)}
    models: list[dict] = field(default_factory=list)

    def table(self, as_text: bool = False) -> pd.DataFrame:
        """what, this run, paper; and "per seed" (e.g. "71, 74, 76; sd 2.5") when a row has seeds.
        `as_text`: numbers as short text ("" for none), so a column can mix numbers and words."""
        # The columns' names are keys (the CLI prints them, tests read them); a page shows _(name).
        df = pd.DataFrame(self.rows, columns=[N_("what"), N_("this run"), N_("paper")])
        if as_text:
            for col in ("this run", "paper"):
                df[col] = [_text(v) for v in df[col]]
        if any("seeds" in row for row in self.rows):
            df[N_("per seed")] = [
                _("{values}; sd {sd:.1f}").format(
                    values=", ".join(map(str, r["seeds"])), sd=np.std(r["seeds"], ddof=1)
                )
                if "seeds" in r
                else ""
                for r in self.rows
            ]
        return df

    def to_dict(self) -> dict:
        """JSON-ready (for `kdviz reproduce --json`). The setup goes out under the key "settings",
        as it always has: scripts read that output."""
        out = asdict(replace(self, curve=None))
        out["settings"] = out.pop("setup")
        out["curve"] = None if self.curve is None else self.curve.to_dict(orient="records")
        return out


def row(what: str, this_run, paper=None) -> dict:
    return {"what": what, "this run": this_run, "paper": paper}


def _text(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    return f"{v:g}" if isinstance(v, float) else str(v)


def check(effect: str, holds) -> dict:
    return {"effect": effect, "holds": bool(holds)}


def seeds_row(what: str, values: list, paper) -> dict:
    """A row measured over seeds: their mean, with every seed's number beside it."""
    if len(values) == 1:
        return row(what, values[0], paper)
    mean = round(float(np.mean(values)), 1)
    return row(what, mean, paper) | {"seeds": [int(v) for v in values]}
