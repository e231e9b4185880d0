// libyaml (Debian libyaml-dev, RHEL libyaml-devel): the parser that go-yaml, and so kubectl, ports.
#ifndef IMGPROMOTE_CYAML_SHIM_H
#define IMGPROMOTE_CYAML_SHIM_H
#include <yaml.h>
#endif
