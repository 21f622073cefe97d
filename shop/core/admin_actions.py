"""The confirmation page of an admin action that asks for input (a reason, an amount) before it runs.

Shared by every app's admin actions; the page is templates/admin/action_confirm.html.
"""

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.template.response import TemplateResponse


def action_confirm(modeladmin, request, queryset, *, form_class, action: str, title, explanation, submit_label):
    """(form, None) once the staff member confirmed with valid input; else (None, the confirmation page)."""
    form = form_class(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        return form, None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "explanation": explanation,
        "submit_label": submit_label,
        "form": form,
        "queryset": queryset,
        "action": action,
        "opts": modeladmin.model._meta,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return None, TemplateResponse(request, "admin/action_confirm.html", context)
