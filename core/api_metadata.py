"""What OPTIONS answers. Its own module: DRF reads this class while defining APIView, so the
module must not import rest_framework.views itself."""

from rest_framework.metadata import SimpleMetadata


class PlainMetadata(SimpleMetadata):
    """OPTIONS names the endpoint and its formats only; the schema (/api/schema/) describes the
    fields. SimpleMetadata's `actions` would look up an object the request never named."""

    def determine_actions(self, request, view):
        return {}
