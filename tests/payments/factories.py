"""Factories for payments tests: users with a verified e-mail address (wallets need one)."""

import factory
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"payer{n}@example.com")
    password = factory.django.Password("correct horse battery staple")


class VerifiedUserFactory(UserFactory):
    @factory.post_generation
    def verified_email(obj, create, extracted, **kwargs):
        if create:
            EmailAddress.objects.create(user=obj, email=obj.email, verified=True, primary=True)
