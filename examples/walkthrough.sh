#!/bin/sh
# The README's curl walk-through, runnable as it stands. With `make run` going (give it the same PORT
# and DEMO_PORT if you changed them), from the checkout:  sh examples/walkthrough.sh
# `make test` runs it against a real service, and checks that README.md shows exactly the lines
# after `set -eu` (which stops the script at the first failure, and is left out of the README so that
# pasting the lines into a terminal cannot close it).
set -eu

SERVICE="http://127.0.0.1:${PORT:-5000}" SHOP="http://127.0.0.1:${DEMO_PORT:-8000}"
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# 0. The policy version visitors are shown now (the banner has it built in).
VERSION=$(curl -sS --fail-with-body "$SERVICE/v1/sites/demo/config" | field policy_version)

# 1. The banner records a choice (this is what it POSTs); the Origin must be one of the site's origins.
CHOICE=$(curl -sS --fail-with-body "$SERVICE/v1/sites/demo/consents" \
  -H "Origin: $SHOP" -H 'Content-Type: application/json' --data-binary @- <<EOF
{"policy_version": $VERSION, "method": "custom",
 "choices": {"necessary": true, "preferences": false, "analytics": true, "marketing": false},
 "language": "en", "page_url": "$SHOP/products", "client_record_id": "walkthrough-$(date +%s)-$$"}
EOF
)
echo "$CHOICE"
# -> {"record_id": "01J…", "visitor_id": "01J…", "token": "eyJ…", "expires_at": "…", "policy_version": 1, …}
VISITOR=$(echo "$CHOICE" | field visitor_id)
TOKEN=$(echo "$CHOICE" | field token)

# 2. A key for your backend (printed once, on the last line; only its hash is stored).
KEY=$("${VENV:-.venv}"/bin/consent-service keys create --site demo --scope read --label "shop backend" | tail -n 1)

# 3. What did this visitor allow?  status: valid | expired | outdated | none
curl -sS --fail-with-body -H "Authorization: Bearer $KEY" "$SERVICE/v1/sites/demo/visitors/$VISITOR/consent"
echo
# -> {"status": "valid", "visitor_id": "01J…", "granted": ["analytics", "necessary"], "policy_version": 1, …}

# 4. Verify a token without doing it locally.
curl -sS --fail-with-body -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
  -d "{\"token\": \"$TOKEN\"}" "$SERVICE/v1/sites/demo/tokens/verify"
echo
# -> {"status": "valid", …}: what the token says, checked against the current policy version

# 5. Or verify it in your backend with the site's public keys only (any JOSE library: EdDSA, the
#    audience is the site id): the JWKS the guard and the banner use.
curl -sS --fail-with-body "$SERVICE/v1/sites/demo/jwks.json"
echo
# -> {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "…", "x": "…", "alg": "EdDSA", "use": "sig"}]}
