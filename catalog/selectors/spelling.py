"""Forgiving search: the catalogue's words, and the nearest of them to a misspelt one.

Similarity is pg_trgm's, computed in Python so the embedded SQLite default forgives typos
the way PostgreSQL's trigram index does: the share of three-letter pieces two words have
in common ("hedphone" and "headphones" share enough). The word list is read once per
catalogue version (catalog.cache) and kept in the cache, and each process keeps the current
version's list in memory: every search on PostgreSQL consults it, and fetching and unpickling
a 100,000-product catalogue's words from Redis on each request cost more than the search.
"""

import re
import uuid

from django.core.cache import cache

from catalog.cache import TTL, catalog_cache_key
from catalog.models import Category, Product
from catalog.translation import localized_fields

WORD_RE = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
# pg_trgm's default `similarity_threshold` is 0.3; a little stricter keeps suggestions sensible.
THRESHOLD = 0.35


def trigrams(word: str) -> set[str]:
    """pg_trgm's trigrams of one word: padded with two spaces before and one after."""
    padded = f"  {word.lower()} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def similarity(a: str, b: str) -> float:
    """Shared trigrams over all trigrams of both words (0 to 1), as pg_trgm's similarity()."""
    ta, tb = trigrams(a), trigrams(b)
    return len(ta & tb) / len(ta | tb) if ta and tb else 0.0


# (cache key, generation, words) of the last vocabulary this process read. The generation is a
# random token stored beside the words: a flushed cache restarts the catalogue version at 1, and
# the token tells this process that its v1 words are not the cache's v1 words.
_memo: tuple[str, str, frozenset[str]] = ("", "", frozenset())


def product_vocabulary() -> frozenset[str]:
    """Every word (3+ letters, lower case) of active product names, brands and category names, in every language."""
    global _memo  # noqa: PLW0603 - a per-process memo of an immutable value, replaced whole
    key = catalog_cache_key("vocabulary")
    generation = cache.get(f"{key}:generation")
    if generation is not None and _memo[:2] == (key, generation):
        return _memo[2]
    words = cache.get(key) if generation is not None else None
    if words is None:
        found: set[str] = set()
        names = Product.objects.filter(is_active=True).values_list(*localized_fields("name"), "brand")
        for row in names.iterator(chunk_size=2000):
            found.update(WORD_RE.findall(" ".join(text for text in row if text).lower()))
        for row in Category.objects.values_list(*localized_fields("name")):
            found.update(WORD_RE.findall(" ".join(text for text in row if text).lower()))
        words, generation = frozenset(found), uuid.uuid4().hex
        cache.set_many({key: words, f"{key}:generation": generation}, TTL)
    _memo = (key, generation, words)
    return words


def word_nearest(word: str, vocabulary: frozenset[str] | None = None) -> str:
    """The catalogue word nearest to `word` ("" when none is near enough); the word itself if known."""
    word = word.lower()
    vocabulary = product_vocabulary() if vocabulary is None else vocabulary
    if word in vocabulary or len(word) < 3:
        return word if word in vocabulary else ""
    best, best_score = "", THRESHOLD
    for candidate in vocabulary:
        if abs(len(candidate) - len(word)) > 4:
            continue
        score = similarity(word, candidate)
        if score > best_score or (score == best_score and best and candidate < best):
            best, best_score = candidate, score
    return best


def query_suggestion(q: str) -> str:
    """The query with each unknown word replaced by the nearest catalogue word ("" if nothing changes)."""
    vocabulary = product_vocabulary()
    words = q.split()[:8]
    # Only plain words are corrected: "-cable", '"closed' and OR are search syntax, kept as typed.
    fixed = [word_nearest(w, vocabulary) or w if w.isalnum() and w != "OR" else w for w in words]
    suggestion = " ".join(fixed)
    return suggestion if suggestion.lower() != " ".join(words).lower() else ""
