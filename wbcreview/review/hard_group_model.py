"""A Dawid-Skene model that knows the hard groups and the current label (aggregation's
'hard-group' method): numpy EM, no crowd-kit.

With 3 votes a cell, a full 16 x 16 confusion matrix per annotator (about 300 votes each)
cannot be told apart from the class prior: EM trades "this team confuses SNE with BNE" for
"this cell is SNE" and its posteriors become certain where the truth is a coin toss. This
model has few parameters, each seen by many votes:

- per annotator: accuracy on easy classes, inside the hard groups (consensus.HARD_GROUPS)
  and on removals; how often they vote the current label when it is wrong (keeps a wrong
  label, e.g. a team biased towards retain); the share of their other mistakes that fall
  on a hard partner of the truth (the rest spread evenly). Each is shrunk towards the
  pooled value of all annotators (SHRINK pseudo-votes), so a team seen on few cells is
  like the others until its votes say otherwise;
- per cell: a prior given its current label: right with probability rho (per tier: easy
  or hard class), else a hard partner (share h) or another outcome, in proportion to the
  classes' estimated frequencies.

rho is what lets the votes be read at all: with it free, EM can explain unanimous votes for
a wrong label (rho low, everyone keeps wrong labels). So when the expert's calibration cells
(known answers) are MIN_KNOWN or more, rho comes from them alone (how often the current
label was right there), and the calibration cells' posteriors are their known answers;
otherwise one rho for every class is estimated by EM. Edge cases: cells without a current
label get the class frequencies as prior; a category nobody voted and no cell holds is not
in the posterior.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wbcreview.review.consensus import HARD_GROUPS

SHRINK = 10.0  # pseudo-votes pulling an annotator's parameters to the pooled ones
ITERATIONS = 100
TOLERANCE = 1e-6  # largest change of a posterior between two iterations to stop
MIN_KNOWN = 20  # calibration cells needed before rho is read from them alone
TIERS = ("easy", "hard", "remove")
# Beta priors (right, total pseudo-counts) on the pooled values: accuracy per tier, the
# share of wrong labels kept, the current label's accuracy.
ACCURACY_PRIOR = (np.array([9.0, 4.0, 4.0]), np.array([10.0, 5.0, 5.0]))  # easy, hard, remove
KEEP_PRIOR = (1.0, 10.0)
RHO_PRIOR = (4.0, 5.0)


@dataclass
class Fit:
    """posterior: cells x categories (rows sum to 1); annotators: reviewer, accuracy_easy
    and accuracy_hard (right when they do not keep a wrong label), removes_when_due (votes
    remove when the cell should go), keeps_wrong_label (votes a wrong current label),
    partner_share (of their other mistakes, the share on a hard partner); rho: tier (easy,
    hard) -> the current label's estimated accuracy; iterations: EM iterations run."""

    posterior: pd.DataFrame
    annotators: pd.DataFrame
    rho: dict[str, float]
    iterations: int


class _Votes:
    """The votes as index arrays, and per vote and candidate truth t the event it is."""

    def __init__(self, answers: pd.DataFrame, current: pd.Series, categories: list[str]):
        self.cells = pd.Index(sorted(set(answers["cell_id"].astype(str))))
        self.categories = categories
        pos = {c: i for i, c in enumerate(categories)}
        self.reviewers = sorted(set(answers["reviewer"].astype(str)))
        k = len(categories)
        self.cell = self.cells.get_indexer(answers["cell_id"].astype(str))
        self.who = answers["reviewer"].astype(str).map({r: i for i, r in enumerate(self.reviewers)})
        self.who = self.who.to_numpy()
        voted = answers["outcome"].astype(str).map(pos).to_numpy()
        labels = current.reindex(self.cells)
        self.label = np.array([pos.get(c, -1) if isinstance(c, str) else -1 for c in labels])
        self.partner = np.zeros((k, k), dtype=bool)
        for members in HARD_GROUPS.values():
            for a in members:
                for b in members:
                    if a != b and a in pos and b in pos:
                        self.partner[pos[a], pos[b]] = True
        hard = {m for members in HARD_GROUPS.values() for m in members}
        self.tier = np.array([2 if c == "remove" else 1 if c in hard else 0 for c in categories])
        truth = np.arange(k)[None, :]
        v = voted[:, None]
        c = self.label[self.cell][:, None]
        has = c >= 0
        self.same = (truth == c) | ~has  # t is the current label (or there is none)
        self.right = v == truth
        self.kept = ~self.same & (v == c)  # voted the current label, which is wrong
        self.to_partner = self.partner[:, voted].T & ~self.kept & ~self.right
        partners = self.partner.sum(axis=1)[None, :]
        c_partner = np.where(has, self.partner[:, np.maximum(c[:, 0], 0)].T, False)
        self.n_partner = partners - (c_partner & ~self.same)
        self.n_other = (k - 1 - partners) - (~self.same & ~c_partner & has)
        self.choice = (self.n_partner > 0) & (self.n_other > 0)
        self.vote_tier = np.broadcast_to(self.tier[None, :], self.right.shape)

    def per_annotator_tier(self, weight: np.ndarray) -> np.ndarray:
        """Sum of `weight` (votes x truths) per annotator and tier of the truth."""
        n = len(self.reviewers) * len(TIERS)
        slot = (self.who[:, None] * len(TIERS) + self.vote_tier).ravel()
        return np.bincount(slot, weights=weight.ravel(), minlength=n).reshape(-1, len(TIERS))


def _shrunk(hits: np.ndarray, total: np.ndarray, prior: tuple) -> np.ndarray:
    pooled = (hits.sum(axis=0) + prior[0]) / (total.sum(axis=0) + prior[1])
    return (hits + SHRINK * pooled) / (total + SHRINK)


def _label_prior(v: _Votes, rho: np.ndarray, h: float, freq: np.ndarray) -> np.ndarray:
    """Log prior of every cell over the categories, given its current label."""
    k = len(v.categories)
    pi = np.zeros((k, k))
    for c in range(k):
        partners = v.partner[c]
        others = ~partners
        others[c] = False
        share = h if partners.any() else 0.0
        if partners.any():
            pi[c, partners] = share * freq[partners] / freq[partners].sum()
        pi[c, others] = (1 - share) * freq[others] / freq[others].sum()
        pi[c] *= 1 - rho[v.tier[c]]
        pi[c, c] = rho[v.tier[c]]
    has = v.label >= 0
    return np.where(
        has[:, None],
        np.log(np.clip(pi[np.maximum(v.label, 0)], 1e-12, None)),
        np.log(freq)[None, :],
    )


def fit(answers: pd.DataFrame, current: pd.Series, known: pd.Series | None = None) -> Fit:
    """Fit the model to `answers` (cell_id, reviewer, outcome: a class or 'remove') given
    `current` (cell_id -> current label) and `known` (cell_id -> known outcome, the
    calibration cells). Raises ValueError on empty answers."""
    if answers.empty:
        raise ValueError("no answers to fit")
    known = pd.Series(dtype=object) if known is None else known.dropna().astype(str)
    labels = current.dropna()
    categories = sorted(
        set(answers["outcome"].astype(str))
        | set(labels[labels.index.isin(set(answers["cell_id"].astype(str)))].astype(str))
        | set(known)
        | {"remove"}
    )
    v = _Votes(answers, current, categories)
    n, k, teams = len(v.cells), len(categories), len(v.reviewers)
    known = known[known.index.isin(v.cells)]
    fixed = v.cells.get_indexer(known.index)
    fixed_to = np.array([categories.index(x) for x in known], dtype=int)
    use_known = len(fixed) >= MIN_KNOWN

    accuracy = np.tile([0.9, 0.8, 0.8], (teams, 1))
    keeps = np.tile([0.1, 0.1, 0.2], (teams, 1))
    partner_share = np.full(teams, 0.7)
    freq = np.full(k, 1.0 / k)
    rho, h = np.array([0.85, 0.85, 0.85]), 0.7
    labelled = v.label >= 0
    if use_known:  # the current label's accuracy where the expert gave the answer
        answer = np.full(n, -1)
        answer[fixed] = fixed_to
        rows = (answer >= 0) & labelled
        right = v.label[rows] == answer[rows]
        tiers = v.tier[v.label[rows]]
        for t in range(2):
            rho[t] = (right[tiers == t].sum() + RHO_PRIOR[0]) / ((tiers == t).sum() + RHO_PRIOR[1])

    previous = None
    iterations = 0
    for _ in range(ITERATIONS):
        iterations += 1
        # E-step: each cell's posterior under the current parameters
        a = accuracy[v.who][:, v.tier]
        b = keeps[v.who][:, v.tier]
        eta = np.where(
            v.n_partner == 0, 0.0, np.where(v.n_other == 0, 1.0, partner_share[v.who][:, None])
        )
        wrong = np.where(
            v.to_partner,
            (1 - a) * eta / np.maximum(v.n_partner, 1),
            (1 - a) * (1 - eta) / np.maximum(v.n_other, 1),
        )
        p = np.where(v.right, a, wrong)
        p = np.where(v.same, p, np.where(v.kept, b, (1 - b) * p))
        score = _label_prior(v, rho, h, freq)
        np.add.at(score, v.cell, np.log(np.clip(p, 1e-12, None)))
        score -= score.max(axis=1, keepdims=True)
        post = np.exp(score)
        post /= post.sum(axis=1, keepdims=True)
        if len(fixed):
            post[fixed] = 0.0
            post[fixed, fixed_to] = 1.0
        if previous is not None and np.abs(post - previous).max() < TOLERANCE:
            break
        previous = post
        # M-step: parameters from the expected counts
        w = post[v.cell]
        free = ~v.kept
        accuracy = _shrunk(
            v.per_annotator_tier(w * (v.right & free)),
            v.per_annotator_tier(w * free),
            ACCURACY_PRIOR,
        )
        kept = v.per_annotator_tier(w * v.kept)
        wrong_label = v.per_annotator_tier(w * ~v.same)
        # one rate for easy and hard classes (a hard-only rate trades off against rho)
        kept[:, :2] = kept[:, :2].sum(axis=1, keepdims=True)
        wrong_label[:, :2] = wrong_label[:, :2].sum(axis=1, keepdims=True)
        pooled_keep = (kept.sum(axis=0) + KEEP_PRIOR[0]) / (wrong_label.sum(axis=0) + KEEP_PRIOR[1])
        keeps = (kept + SHRINK * pooled_keep) / (wrong_label + SHRINK)
        chose = ~v.right & free & v.choice
        to_partner = np.bincount(v.who, (w * (v.to_partner & chose)).sum(axis=1), teams)
        chances = np.bincount(v.who, (w * chose).sum(axis=1), teams)
        pooled_share = (to_partner.sum() + 1) / (chances.sum() + 2)
        partner_share = (to_partner + SHRINK * pooled_share) / (chances + SHRINK)
        freq = (post.sum(axis=0) + 1) / (n + k)
        rows = np.flatnonzero(labelled)
        held = post[rows, v.label[rows]]
        if not use_known:
            rho[:] = (held.sum() + RHO_PRIOR[0]) / (len(held) + RHO_PRIOR[1])
        hard_label = v.partner[v.label[rows]].any(axis=1)
        on_partner = (post[rows] * v.partner[v.label[rows]]).sum(axis=1)
        h = (on_partner[hard_label].sum() + 1) / ((1 - held[hard_label]).sum() + 2)

    annotators = pd.DataFrame(
        {
            "reviewer": v.reviewers,
            "accuracy_easy": accuracy[:, 0],
            "accuracy_hard": accuracy[:, 1],
            "removes_when_due": (1 - keeps[:, 2]) * accuracy[:, 2],
            "keeps_wrong_label": keeps[:, 0],
            "partner_share": partner_share,
        }
    )
    return Fit(
        pd.DataFrame(post, index=v.cells, columns=categories),
        annotators,
        {"easy": float(rho[0]), "hard": float(rho[1])},
        iterations,
    )
