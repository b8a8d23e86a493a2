// The OpenStack client SDK.
