#!/usr/bin/env bash
# Registers Glimpse as a cloud's image service in Keystone: the `glance` service (type
# `image`) and its public, internal and admin endpoints, as Glance's installation guide
# does. Run again with another URL to move the endpoints. Needs the `openstack` CLI and a
# Keystone admin's OS_* variables.
# Usage: keystone-register.sh IMAGE_API_URL [REGION]
#   e.g. keystone-register.sh https://images.example.com RegionOne
# Env: SERVICE_TYPE (image) SERVICE_NAME (glance): another service type, such as Tempest's
#      `image_remote` (one API node reached directly, for its cross-node tests)
set -euo pipefail
URL="${1:?usage: $0 IMAGE_API_URL [REGION]}"; REGION="${2:-${OS_REGION_NAME:-RegionOne}}"
OPENSTACK="${OPENSTACK:-openstack}"
TYPE="${SERVICE_TYPE:-image}"; NAME="${SERVICE_NAME:-glance}"
service="$("$OPENSTACK" service list -f value -c ID -c Type | awk -v type="$TYPE" '$2 == type { print $1; exit }')"
if [ -z "$service" ]; then
  service="$("$OPENSTACK" service create --name "$NAME" --description "OpenStack Image (Glimpse)" -f value -c id "$TYPE")"
fi
for interface in public internal admin; do
  endpoint="$("$OPENSTACK" endpoint list --service "$service" --interface "$interface" --region "$REGION" -f value -c ID | head -1)"
  if [ -z "$endpoint" ]; then
    "$OPENSTACK" endpoint create --region "$REGION" "$service" "$interface" "$URL" >/dev/null
  else
    "$OPENSTACK" endpoint set --url "$URL" "$endpoint"
  fi
done
echo "$TYPE service $service: $URL ($REGION)"
