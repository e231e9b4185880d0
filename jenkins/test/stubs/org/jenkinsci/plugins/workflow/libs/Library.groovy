package org.jenkinsci.plugins.workflow.libs

import java.lang.annotation.Retention
import java.lang.annotation.RetentionPolicy

/** Test stand-in for @Library, so the example Jenkinsfiles compile in tests. */
@Retention(RetentionPolicy.SOURCE)
@interface Library {
    String[] value()
}
