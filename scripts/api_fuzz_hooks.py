"""schemathesis hooks for scripts/api-fuzz.sh: bodies of the image API's JSON-patch media
types are JSON (schemathesis serializes only the media types it knows)."""
import json

import schemathesis


@schemathesis.serializer(
    "application/openstack-images-v2.1-json-patch", "application/openstack-images-v2.0-json-patch"
)
def json_patch(ctx, value):
    return json.dumps(value).encode()
