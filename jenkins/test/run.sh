#!/bin/sh
# Runs the shared library's unit tests with Debian's groovy (2.4) and JUnit 4; no Maven needed.
# Usage: jenkins/test/run.sh   (from anywhere). Last line: "groovy: N passed, N failed".
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

if ! command -v groovy >/dev/null 2>&1 || [ ! -e /usr/share/java/junit4.jar ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ -z "${IMGPROMOTE_NO_INSTALL-}" ]; then
    echo "run.sh: installing Debian packages groovy junit4" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q groovy junit4 >/dev/null ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q groovy junit4 >/dev/null; }
  else
    echo "run.sh: needs groovy and junit4 (apt-get install groovy junit4)" >&2
    echo "groovy: 0 passed, 1 failed"
    exit 1
  fi
fi
if [ -z "${JAVA_HOME-}" ] || [ ! -x "${JAVA_HOME}/bin/java" ]; then
  if [ -x /usr/lib/jvm/default-java/bin/java ]; then
    JAVA_HOME=/usr/lib/jvm/default-java
  else
    JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
  fi
  export JAVA_HOME
fi

cd "$root"
exec groovy -cp "test:test/stubs:/usr/share/java/junit4.jar" test/Runner.groovy
