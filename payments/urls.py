from django.urls import path

from payments import api, views, webhooks

app_name = "payments"

# Pages, mounted at the site root.
urlpatterns = [
    path("wallet/", views.wallet_overview, name="wallet_overview"),
    path("wallet/open/", views.wallet_open, name="wallet_open"),
    path("wallet/<int:wallet_id>/statement/", views.wallet_statement, name="wallet_statement"),
    path("wallet/<int:wallet_id>/deposit/", views.wallet_deposit, name="wallet_deposit"),
    path("wallet/<int:wallet_id>/withdraw/", views.wallet_withdraw, name="wallet_withdraw"),
    path("wallet/payments/<int:payment_id>/", views.payment_detail, name="payment_detail"),
    path("wallet/withdrawals/<int:withdrawal_id>/", views.withdrawal_detail, name="withdrawal_detail"),
    path("payments/webhooks/psp/", webhooks.psp_webhook, name="psp_webhook"),
]

# API, mounted under /api/v1/.
api_urlpatterns = [
    path("wallets/", api.WalletListApi.as_view(), name="wallet_list"),
    path("wallets/<int:wallet_id>/", api.WalletDetailApi.as_view(), name="wallet_detail"),
    path("wallets/<int:wallet_id>/transactions/", api.WalletTransactionsApi.as_view(), name="wallet_transactions"),
    path("wallets/<int:wallet_id>/deposits/", api.WalletDepositApi.as_view(), name="wallet_deposits"),
    path("wallets/<int:wallet_id>/withdrawals/", api.WalletWithdrawalApi.as_view(), name="wallet_withdrawals"),
    path("payments/<int:payment_id>/", api.PaymentDetailApi.as_view(), name="payment_detail"),
]
