# Sourced by .ci/run: the services prefer-arena's tests use, from Debian's packages.
# PostgreSQL (a local cluster on 127.0.0.1) and Chromium + chromedriver (headless
# end-to-end test). Best effort: when something cannot be installed or started, say so;
# the tests that need it then print `skipped: ...` instead of failing.

arena_services() {
    # Best effort: no failure here may stop CI (the caller runs with `set -e`).
    set +e
    local need=()
    command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
    [ -x /usr/bin/chromium ] || need+=(chromium)
    [ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
    if [ ${#need[@]} -gt 0 ]; then
        echo "ci: installing ${need[*]}"
        if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; }; then
            echo "ci: WARNING: could not install ${need[*]}; the arena tests that need them will skip"
        fi
    fi

    if command -v pg_ctlcluster >/dev/null 2>&1; then
        local ver
        ver=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
        pg_lsclusters -h | grep -q "^$ver main" || pg_createcluster "$ver" main >/dev/null
        pg_ctlcluster "$ver" main start 2>/dev/null || true
        for _ in $(seq 1 50); do
            pg_isready -q -h 127.0.0.1 -p 5432 && break
            sleep 0.2
        done
        if pg_isready -q -h 127.0.0.1 -p 5432; then
            su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='prefer'\"" | grep -q 1 \
                || su postgres -c "psql -qc \"CREATE ROLE prefer LOGIN PASSWORD 'prefer' CREATEDB\""
            su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='prefer_test'\"" | grep -q 1 \
                || su postgres -c "createdb -O prefer prefer_test"
            # Databases left by earlier runs' tests (each test makes its own arena_*).
            for db in $(su postgres -c "psql -qtAc \"SELECT datname FROM pg_database WHERE datname LIKE 'arena\\_%'\""); do
                su postgres -c "dropdb --if-exists '$db'" || true
            done
            export PREFER_TEST_POSTGRES_URL="postgres://prefer:prefer@127.0.0.1:5432/prefer_test"
            echo "ci: PostgreSQL $ver on 127.0.0.1:5432 (PREFER_TEST_POSTGRES_URL set)"
        else
            echo "ci: WARNING: PostgreSQL did not start; the PostgreSQL arena tests will skip"
        fi
    fi
    if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
        export CHROMIUM=/usr/bin/chromium CHROMEDRIVER=/usr/bin/chromedriver
        echo "ci: $(/usr/bin/chromedriver --version 2>/dev/null | head -1)"
    fi
    set -e
}
arena_services
