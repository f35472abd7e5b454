"""Routing: rank agencies from the model's agency head and the catalog (事权, 访诉分离)."""

from __future__ import annotations

from collections.abc import Mapping

from triage.catalog import Catalog


def catalog_prior(catalog: Catalog, subtype_probs: Mapping[str, float]) -> dict[str, float]:
    """Spread each subtype's probability over its default agencies by rank.

    Parameters
    ----------
    catalog : Catalog
        Taxonomy, agencies and policy (``policy.catalog_prior`` gives the rank weights).
    subtype_probs : mapping of subtype id to probability
        The model's subtype scores; unknown ids are ignored.

    Returns
    -------
    dict of agency id to score
    """
    weights = catalog.policy.catalog_prior
    prior: dict[str, float] = {}
    for sid, p in subtype_probs.items():
        sub = catalog.subtypes.get(sid)
        if sub is None:
            continue
        ranks = sub.agencies[: len(weights)]
        total = sum(weights[: len(ranks)])
        for rank, aid in enumerate(ranks):
            prior[aid] = prior.get(aid, 0.0) + p * weights[rank] / total
    return prior


def rank_agencies(catalog: Catalog, agency_probs: Mapping[str, float],
                  subtype_probs: Mapping[str, float], litigation_related: bool,
                  top: int = 3) -> list[tuple[str, float]]:
    """Combine the agency head with the catalog prior; keep legal channels for 涉法涉诉.

    Parameters
    ----------
    catalog : Catalog
    agency_probs : mapping of agency id to probability
        The model's agency head (may be empty when the model has no such head).
    subtype_probs : mapping of subtype id to probability
    litigation_related : bool
        When true and the policy says so, only legal-channel agencies are ranked.
    top : int
        How many agencies to return.

    Returns
    -------
    list of (agency id, score)
        Best first; scores sum to 1 over the agencies considered.
    """
    policy = catalog.policy
    prior = catalog_prior(catalog, subtype_probs)
    weight = policy.model_weight if agency_probs else 0.0
    scores = {aid: weight * agency_probs.get(aid, 0.0) + (1 - weight) * prior.get(aid, 0.0)
              for aid in catalog.agencies}
    if litigation_related and policy.legal_channel_for_litigation:
        legal = set(catalog.legal_agencies)
        scores = {a: s for a, s in scores.items() if a in legal}
        if not any(scores.values()):
            scores = {a: 1.0 for a in legal}
    total = sum(scores.values())
    if total <= 0:
        return []
    ranked = sorted(((a, s / total) for a, s in scores.items() if s > 0),
                    key=lambda t: (-t[1], t[0]))
    return ranked[:top]
