"""The recommendation model: a scikit-learn classifier trained at start-up on generated account data.

Each account has firmographics (employees, annual revenue, tenure, support
tickets, industry) and the products it owns. The generator's ground truth: the
next product an account buys depends on its size, industry and what it owns.
A multinomial logistic regression learns it; a recommendation is the most
probable product the account does not own yet, with that probability as the
confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

PRODUCTS = ("analytics", "security", "storage", "support-plus", "integrations")
INDUSTRIES = ("retail", "finance", "health", "tech", "manufacturing")


@dataclass
class Accounts:
    ids: list[str]
    features: np.ndarray
    owned: np.ndarray  # accounts x products, 0/1
    next_product: np.ndarray


def generate(n: int, seed: int) -> Accounts:
    rng = np.random.default_rng(seed)
    employees = rng.lognormal(4.0, 1.2, n)
    revenue = employees * rng.lognormal(11.0, 0.5, n)
    tenure = rng.integers(1, 120, n)
    tickets = rng.poisson(3, n)
    industry = rng.integers(0, len(INDUSTRIES), n)
    owned = (rng.random((n, len(PRODUCTS))) < 0.25).astype(int)
    # Ground truth: each product's appeal, from size, industry, support load and what is owned.
    appeal = np.stack([
        0.8 * np.log(employees) + (industry == 3) * 1.5,
        (industry == 1) * 2.0 + (industry == 2) * 1.5 + 0.3 * np.log(revenue / 1e6 + 1),
        0.6 * np.log(employees) + owned[:, 0] * 1.2,
        0.4 * tickets + (tenure > 60) * 0.8,
        owned.sum(axis=1) * 0.9 + (industry == 4) * 1.0,
    ], axis=1) + rng.gumbel(size=(n, len(PRODUCTS)))
    appeal[owned == 1] = -np.inf
    # An account owning everything gets its least-recent product renewed: label stays defined.
    nxt = np.where(np.isinf(appeal).all(axis=1), 0, appeal.argmax(axis=1))
    features = np.column_stack([np.log(employees), np.log(revenue), tenure, tickets, owned,
                                np.eye(len(INDUSTRIES))[industry]])
    return Accounts([f"acct-{i:05d}" for i in range(n)], features, owned, nxt)


class Recommender:
    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self.index = {a: i for i, a in enumerate(accounts.ids)}
        self.model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
        self.model.fit(accounts.features, accounts.next_product)
        self.train_accuracy = float(self.model.score(accounts.features, accounts.next_product))

    def recommend(self, account_id: str) -> list[tuple[str, float]]:
        """Products the account does not own, most probable first, with their probabilities."""
        i = self.index[account_id]
        probs = self.model.predict_proba(self.accounts.features[i:i + 1])[0]
        out = [(PRODUCTS[int(c)], float(p)) for c, p in zip(self.model.classes_, probs, strict=True)
               if not self.accounts.owned[i, int(c)]]
        return sorted(out, key=lambda cp: -cp[1])

    def score_all(self) -> np.ndarray:
        """Each account's best confidence over the products it does not own (0 when it owns them all)."""
        probs = self.model.predict_proba(self.accounts.features)
        owned = self.accounts.owned[:, [int(c) for c in self.model.classes_]]
        return np.where(owned == 1, 0.0, probs).max(axis=1)
