from django.urls import path

from catalog import api, views

app_name = "catalog"

# Pages, mounted at "/".
urlpatterns = [
    path("", views.home, name="home"),
    path("c/<slug:slug>/", views.category_detail, name="category"),
    path("search/", views.search, name="search"),
    path("p/<slug:slug>/", views.product_detail, name="product"),
    path("reviews/<int:review_id>/helpful/", views.review_helpful_view, name="review_helpful"),
]

# API, mounted under /api/v1/.
api_urlpatterns = [
    path("categories/", api.CategoryListApi.as_view(), name="categories"),
    path("products/", api.ProductListApi.as_view(), name="products"),
    path("products/autocomplete/", api.ProductAutocompleteApi.as_view(), name="product-autocomplete"),
    path("products/recommended/", api.ProductRecommendedApi.as_view(), name="product-recommended"),
    path("products/<slug:slug>/", api.ProductDetailApi.as_view(), name="product-detail"),
    path("products/<slug:slug>/reviews/", api.ProductReviewsApi.as_view(), name="product-reviews"),
    path("reviews/<int:review_id>/helpful/", api.ReviewHelpfulApi.as_view(), name="review-helpful"),
]
