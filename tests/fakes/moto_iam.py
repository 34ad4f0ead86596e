"""The IAM actions on OpenID Connect providers that moto (5.2) lacks and `ci init` calls.

Real IAM (API reference: AddClientIDToOpenIDConnectProvider,
RemoveClientIDFromOpenIDConnectProvider):

- AddClientIDToOpenIDConnectProvider adds one client ID (audience) to the provider's
  list. It is idempotent: adding one the list already holds changes nothing and
  succeeds. `ClientID` must be 1 to 255 characters (ValidationError otherwise); a
  provider holds at most 100 (LimitExceeded); an ARN no provider has is NoSuchEntity
  (HTTP 404).
- RemoveClientIDFromOpenIDConnectProvider removes one; removing one the list lacks
  succeeds and changes nothing; an unknown ARN is NoSuchEntity.

moto keeps each provider's `client_id_list` but serves neither action. Patched in on
import by moto_lambda.py (the test run's moto, started by scripts/setup/peers.sh).
"""

from moto.iam import responses as resp
from moto.iam.exceptions import LimitExceededException, NotFoundException, ValidationError
from moto.core.responses import EmptyResult

MAX_CLIENT_IDS = 100


def _provider(backend, arn):
    if not arn or not 20 <= len(arn) <= 2048:
        raise ValidationError(
            f"1 validation error detected: Value '{arn}' at 'openIDConnectProviderArn' failed to satisfy constraint: "
            "Member must have length between 20 and 2048"
        )
    provider = backend.open_id_providers.get(arn)
    if provider is None:
        raise NotFoundException(f"OpenIDConnect Provider not found for arn {arn}")
    return provider


def _client_id(value):
    if value is None or not 1 <= len(value) <= 255:
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at 'clientID' failed to satisfy constraint: "
            "Member must have length less than or equal to 255, Member must have length greater than or equal to 1"
        )
    return value


def add_client_id_to_open_id_connect_provider(self):
    client_id = _client_id(self._get_param("ClientID"))
    provider = _provider(self.backend, self._get_param("OpenIDConnectProviderArn"))
    if client_id not in provider.client_id_list:
        if len(provider.client_id_list) >= MAX_CLIENT_IDS:
            raise LimitExceededException(f"Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}")
        provider.client_id_list.append(client_id)
    return EmptyResult()


def remove_client_id_from_open_id_connect_provider(self):
    client_id = _client_id(self._get_param("ClientID"))
    provider = _provider(self.backend, self._get_param("OpenIDConnectProviderArn"))
    if client_id in provider.client_id_list:
        provider.client_id_list.remove(client_id)
    return EmptyResult()


resp.IamResponse.add_client_id_to_open_id_connect_provider = add_client_id_to_open_id_connect_provider
resp.IamResponse.remove_client_id_from_open_id_connect_provider = remove_client_id_from_open_id_connect_provider
