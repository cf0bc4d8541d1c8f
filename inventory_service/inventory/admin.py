"""Admin pages: the catalog and the reservation ledger (read-only), and a restock action.

Read models are derived from events, so the admin does not edit them; restocking goes
through the same command as the API and is recorded as a ``StockAdded`` event.
"""

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse

from eventkit.admin import ReadOnlyAdmin
from eventkit.errors import DomainError
from inventory.models import ProductView, Reservation
from inventory.services import stock_add
from servicekit.fields import max_quantity


class RestockForm(forms.Form):
    quantity = forms.IntegerField(min_value=1, max_value=max_quantity(), initial=10)
    # Each form shown gets a key of its own, sent back with it: a form submitted twice (a
    # double click, the browser resending it) restocks once, as a repeated API command does.
    submission = forms.UUIDField(initial=uuid.uuid4, widget=forms.HiddenInput, required=False)


@admin.register(ProductView)
class ProductAdmin(ReadOnlyAdmin):
    list_display = ("product_name", "price", "quantity", "reserved", "available", "updated_at")
    search_fields = ("product_name", "=id")
    readonly_fields = [f.name for f in ProductView._meta.fields]
    actions = ["restock"]

    def response_action(self, request, queryset):
        # Django's own filter of the selection raises on an id that is no UUID (a crafted
        # or mangled form): a 500 for what is the request's fault.
        try:
            return super().response_action(request, queryset)
        except ValidationError:
            self.message_user(request, "The selection names no product.", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    @admin.action(description="Restock selected products")
    def restock(self, request, queryset):
        form = RestockForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            restocked = 0
            for product in queryset:
                try:
                    stock_add(
                        product_id=product.id,
                        quantity=form.cleaned_data["quantity"],
                        command_id=_restock_key(form.cleaned_data["submission"], product),
                    )
                    restocked += 1
                except DomainError as exc:
                    self.message_user(request, f"{product}: {exc.message}", messages.ERROR)
            if restocked:
                self.message_user(
                    request,
                    f"Added {form.cleaned_data['quantity']} units to {restocked} product(s).",
                    messages.SUCCESS,
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Restock products",
            "form": form,
            "products": queryset,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/inventory/restock.html", context)


def _restock_key(submission: uuid.UUID | None, product) -> str | None:
    return f"admin-restock:{submission}:{product.id}" if submission else None


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ("order_id", "product_id", "quantity", "status", "updated_at")
    list_filter = ("status",)
    search_fields = ("=order_id", "=product_id")
    readonly_fields = [f.name for f in Reservation._meta.fields]
