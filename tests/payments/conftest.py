from tests.payments.fixtures import api_client, funded_wallet, psp, unverified_user, verified_user  # noqa: F401
