"""Admin: the review moderation queue (hide or keep, with a reason), wishlists and stock alerts."""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from catalog.engagement.models import HiddenReview, ReviewReport, StockAlert, WishlistItem
from catalog.engagement.services import review_reports_decide
from shop.core.admin_actions import action_confirm


class DecisionForm(forms.Form):
    reason = forms.CharField(label=_("Reason (kept with the decision)"), max_length=500, widget=forms.Textarea)


def _decide(modeladmin, request, queryset, *, hide: bool, action: str, title, submit_label):
    form, page = action_confirm(
        modeladmin, request, queryset, form_class=DecisionForm, action=action, title=title,
        explanation=_("Every open report of these reviews is closed with your name, the time and this reason."),
        submit_label=submit_label,
    )
    if page is not None:
        return page
    closed = 0
    for review_id in set(queryset.values_list("review_id", flat=True)):
        closed += review_reports_decide(review_id=review_id, actor=request.user, hide=hide,
                                        reason=form.cleaned_data["reason"])
    modeladmin.message_user(request, _("%(n)d report(s) closed.") % {"n": closed}, messages.SUCCESS)
    return None


@admin.action(description=_("Hide the review (asks for a reason)"))
def hide_review(modeladmin, request, queryset):
    return _decide(modeladmin, request, queryset, hide=True, action="hide_review",
                   title=_("Hide reported reviews"), submit_label=_("Hide"))


@admin.action(description=_("Keep the review (asks for a reason)"))
def keep_review(modeladmin, request, queryset):
    return _decide(modeladmin, request, queryset, hide=False, action="keep_review",
                   title=_("Keep reported reviews"), submit_label=_("Keep"))


@admin.register(ReviewReport)
class ReviewReportAdmin(admin.ModelAdmin):
    """The moderation queue: open reports first; decisions only through the two actions."""

    list_display = ("review_text", "product", "reason", "status", "created_at", "decided_by")
    list_filter = ("status",)
    list_select_related = ("review__product", "decided_by")
    actions = [hide_review, keep_review]
    readonly_fields = ("review", "reporter", "reason", "status", "created_at", "decided_by", "decided_at",
                       "decision_reason")

    @admin.display(description=_("review"))
    def review_text(self, obj):
        review = obj.review
        return f"{'★' * review.rating} {review.title or review.body[:60]}"

    @admin.display(description=_("product"))
    def product(self, obj):
        return obj.review.product.name

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the audit trail of moderation stays


@admin.register(HiddenReview)
class HiddenReviewAdmin(admin.ModelAdmin):
    list_display = ("review", "reason", "hidden_by", "hidden_at")
    readonly_fields = ("review", "reason", "hidden_by", "hidden_at")

    def has_add_permission(self, request):
        return False


@admin.register(StockAlert)
class StockAlertAdmin(admin.ModelAdmin):
    list_display = ("product", "email", "created_at", "due_at", "notified_at")
    list_filter = (("notified_at", admin.EmptyFieldListFilter),)
    search_fields = ("email", "product__name")
    raw_id_fields = ("product", "user")


@admin.register(WishlistItem)
class WishlistItemAdmin(admin.ModelAdmin):
    list_display = ("user", "product", "created_at")
    raw_id_fields = ("product", "user")
