# Two emulated OpenShift clusters, dev and prod (Sources/ClusterEmulator: API + OAuth over HTTPS, a real
# docker-registry behind each), as scripts/demo.sh, jenkins/test/real-cli.sh and
# agent-image/container-check.sh use them. Sourced by bash; the caller owns `work` (a private
# directory) and the `pids` array its cleanup stops.
#
#   start_clusters EMULATOR    # sets alice_pw dev_sa prod_sa; returns 1 (logs on stderr) if one did not start
#   cluster_field dev apiURL   # a field of the cluster's state file: apiURL, caBundlePath, registryHost, ...
#
# Both clusters: user alice (password alice_pw), service account ci/promoter (token dev_sa / prod_sa),
# projects shop and openshift (readable by every authenticated user, with image stream openshift/cli).
# In dev alice may push to shop (she builds) and the CI service account may pull; in prod only the
# CI service account may push to shop.

secret() { head -c 24 /dev/urandom | base64 | tr -d '/+='; }

start_clusters() {
  local emulator=$1 cluster sa pushers pullers
  alice_pw=$(secret) dev_sa=$(secret) prod_sa=$(secret)
  for cluster in dev prod; do
    if [ "$cluster" = dev ]; then sa=$dev_sa pushers='["alice"]' pullers='["system:serviceaccount:ci:promoter"]'
    else sa=$prod_sa pushers='["system:serviceaccount:ci:promoter"]' pullers='[]'; fi
    (umask 077; cat >"$work/$cluster.json" <<EOF
{"name": "$cluster",
 "users": [{"name": "alice", "password": "$alice_pw"}],
 "serviceAccounts": [{"namespace": "ci", "name": "promoter", "token": "$sa"}],
 "projects": [{"name": "shop", "pullers": $pullers, "pushers": $pushers},
              {"name": "openshift", "pullers": ["system:authenticated"], "pushers": []}],
 "imageStreams": [{"namespace": "openshift", "name": "cli"}]}
EOF
    )
    mkdir -p "$work/$cluster"
    "$emulator" --config "$work/$cluster.json" --work-dir "$work/$cluster" --state-file "$work/$cluster.state" \
      >"$work/$cluster.log" 2>&1 &
    pids+=($!)
  done
  for cluster in dev prod; do
    for _ in $(seq 1 200); do [ -s "$work/$cluster.state" ] && break; sleep 0.05; done
    if [ ! -s "$work/$cluster.state" ]; then
      echo "emulated cluster $cluster did not start:" >&2; tail -n 20 "$work/$cluster.log" >&2
      return 1
    fi
  done
}

cluster_field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/$1.state" "$2"; }
