"""Helpful votes on reviews: one per signed-in shopper, never on their own, reviews ordered by them.

The page's button toggles (a second press takes the vote back); the API votes with POST (a repeat
changes nothing) and takes it back with DELETE.
"""

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection
from django.test import Client
from django.utils import timezone

from catalog.exceptions import OwnReviewVote
from catalog.models import Review, ReviewHelpfulVote
from catalog.selectors.reviews import product_reviews, product_reviews_for_page
from catalog.services.recommendations import product_purchase_record
from catalog.services.reviews import (
    review_create,
    review_helpful_toggle,
    review_helpful_unvote,
    review_helpful_vote,
)
from tests.catalog.factories import UserFactory, make_product

pytestmark = pytest.mark.django_db


def _review(product, title, *, days_ago=0):
    author = UserFactory()
    product_purchase_record(user=author, lines=[(product.pk, 1)], reference=f"O-{author.pk}")
    review = review_create(user=author, product=product, rating=4, title=title, body="Words.")
    Review.objects.filter(pk=review.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    return review


def test_a_vote_counts_once_per_shopper_and_can_be_taken_back():
    product = make_product()
    review = _review(product, "Solid")
    shopper = UserFactory()
    assert review_helpful_vote(user=shopper, review=review).helpful_count == 1
    assert review_helpful_vote(user=shopper, review=review).helpful_count == 1  # a repeat changes nothing
    assert ReviewHelpfulVote.objects.filter(review=review).count() == 1
    assert review_helpful_unvote(user=shopper, review=review).helpful_count == 0
    assert review_helpful_unvote(user=shopper, review=review).helpful_count == 0
    assert review_helpful_toggle(user=shopper, review=review) is True
    assert review_helpful_toggle(user=shopper, review=review) is False
    review.refresh_from_db()
    assert review.helpful_count == 0 and not ReviewHelpfulVote.objects.exists()


def test_nobody_votes_for_their_own_review():
    review = _review(make_product(), "Mine")
    with pytest.raises(OwnReviewVote):
        review_helpful_vote(user=review.user, review=review)
    review.refresh_from_db()
    assert review.helpful_count == 0 and not ReviewHelpfulVote.objects.exists()


def test_reviews_are_ordered_by_helpful_votes_then_newest():
    product = make_product()
    old_helpful = _review(product, "Old but helpful", days_ago=30)
    newest = _review(product, "Newest", days_ago=0)
    middle = _review(product, "Middle", days_ago=5)
    for _ in range(2):
        review_helpful_vote(user=UserFactory(), review=old_helpful)
    review_helpful_vote(user=UserFactory(), review=middle)
    expected = [old_helpful.pk, middle.pk, newest.pk]
    assert [r.pk for r in product_reviews_for_page(product=product)] == expected
    assert [r.pk for r in product_reviews(product=product)] == expected


def test_page_button_votes_toggles_and_reorders_the_cached_page(django_capture_on_commit_callbacks):
    product = make_product()
    _review(product, "First review")
    second = _review(product, "Second review", days_ago=1)
    anonymous = Client()
    page = anonymous.get(product.get_absolute_url()).content.decode()  # now cached for visitors
    assert page.index("First review") < page.index("Second review")
    assert "Log in to vote helpful" in page
    assert anonymous.post(f"/reviews/{second.pk}/helpful/").status_code == 302  # to the log-in page
    assert not ReviewHelpfulVote.objects.exists()
    shopper = Client()
    shopper.force_login(UserFactory())
    with django_capture_on_commit_callbacks(execute=True):  # the product's cached pages go stale after commit
        response = shopper.post(f"/reviews/{second.pk}/helpful/")
    assert response.status_code == 302 and response["Location"].endswith(f"#review-{second.pk}")
    page = shopper.get(product.get_absolute_url()).content.decode()
    assert 'aria-pressed="true"' in page and "1 shopper found this helpful" in page
    visitor_page = anonymous.get(product.get_absolute_url()).content.decode()
    assert visitor_page.index("Second review") < visitor_page.index("First review")
    shopper.post(f"/reviews/{second.pk}/helpful/")  # the same button takes the vote back
    second.refresh_from_db()
    assert second.helpful_count == 0


def test_author_sees_no_button_on_their_own_review_and_posting_changes_nothing():
    product = make_product()
    review = _review(product, "My own")
    author = Client()
    author.force_login(review.user)
    assert 'action="/reviews/' not in author.get(product.get_absolute_url()).content.decode().split("My own")[1]
    response = author.post(f"/reviews/{review.pk}/helpful/", follow=True)
    assert "You cannot vote for your own review." in response.content.decode()
    assert not ReviewHelpfulVote.objects.exists()


def test_api_votes_unvotes_and_refuses_with_codes():
    product = make_product()
    review = _review(product, "Api")
    url = f"/api/v1/reviews/{review.pk}/helpful/"
    assert Client().post(url).status_code in (401, 403)
    client = Client()
    client.force_login(UserFactory())
    assert client.post(url).json() == {"id": review.pk, "helpful_count": 1, "voted": True}
    assert client.post(url).json()["helpful_count"] == 1
    listing = Client().get(f"/api/v1/products/{product.slug}/reviews/").json()
    assert listing["results"][0]["helpful_count"] == 1
    assert client.delete(url).json() == {"id": review.pk, "helpful_count": 0, "voted": False}
    own = Client()
    own.force_login(review.user)
    response = own.post(url)
    assert response.status_code == 403 and response.json()["code"] == "own_review_vote"
    response = client.post("/api/v1/reviews/999999/helpful/")
    assert response.status_code == 404 and response.json()["code"] == "review_not_found"


@pytest.mark.django_db(transaction=True)
def test_concurrent_votes_by_one_shopper_count_once_and_many_shoppers_count_each():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so no race to prove")
    review = _review(make_product(), "Race")
    twice = UserFactory()
    voters = [twice, twice, twice, *(UserFactory() for _ in range(5))]
    barrier = threading.Barrier(len(voters))

    def vote(user):
        close_old_connections()
        try:
            barrier.wait()
            review_helpful_vote(user=user, review=Review.objects.get(pk=review.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=vote, args=(u,)) for u in voters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    review.refresh_from_db()
    assert review.helpful_count == ReviewHelpfulVote.objects.filter(review=review).count() == 6
