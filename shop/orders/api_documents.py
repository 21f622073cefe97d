"""The order documents' API: GET /orders/{number}/invoice.pdf and /orders/{number}/documents/{document}.pdf
(PDF answers; errors stay JSON)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from shop.orders.api import NUMBER_PARAMETER
from shop.orders.selectors import invoice_get_for_user
from shop.orders.views import invoice_pdf_response


class _PdfDownloadApi(APIView):
    """A PDF answer; errors stay JSON whatever the Accept header asks for."""

    renderer_classes = [JSONRenderer]

    def perform_content_negotiation(self, request, force=False):
        return JSONRenderer(), JSONRenderer.media_type


_PDF = {(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The PDF.")}
_PDF_EXAMPLES = [
    OpenApiExample("PDF", value="%PDF-1.3 … %%EOF", media_type="application/pdf", response_only=True,
                   status_codes=["200"], description="The document's PDF bytes (Content-Type application/pdf)."),
]
_DOCUMENT = OpenApiParameter(
    "document", str, OpenApiParameter.PATH, description="The document's number, e.g. CN-2026-000007."
)


class OrderInvoiceApi(_PdfDownloadApi):
    @extend_schema(
        operation_id="order_invoice_pdf",
        parameters=[NUMBER_PARAMETER],
        responses=_PDF,
        examples=_PDF_EXAMPLES,
        summary="The invoice of one of the caller's orders (PDF)",
        description="The order's invoice as a PDF, issued when the order was paid; an unpaid order "
        "or another user's is a 404.",
    )
    def get(self, request, number: str):
        return invoice_pdf_response(invoice_get_for_user(user=request.user, order_number=number))


class OrderDocumentApi(_PdfDownloadApi):
    @extend_schema(
        operation_id="order_document_pdf",
        parameters=[NUMBER_PARAMETER, _DOCUMENT],
        responses=_PDF,
        examples=_PDF_EXAMPLES,
        summary="An invoice or credit note of one of the caller's orders (PDF)",
        description="One of the documents listed in the order's `documents` (an invoice or a credit "
        "note) as a PDF; another user's is a 404.",
    )
    def get(self, request, number: str, document: str):
        return invoice_pdf_response(invoice_get_for_user(user=request.user, order_number=number, number=document))

