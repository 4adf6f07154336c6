// junit.xml: a run's verdict for CI systems that read JUnit reports (Jenkins, GitLab, GitHub
// actions with a JUnit reporter).
//
// One <testsuite> named after the test, one <testcase> per checker (name = the checker's label
// in results.json, classname = the test name). A checker that is invalid has a <failure> whose
// message is its summary and whose text is its explanation; an unknown one has an <error>
// (the check could not decide, e.g. a time limit); a valid one has neither. History warnings go
// to <system-err>.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "harness/op.h"

namespace faultline::report {

// XML text with &, <, >, " and ' escaped and characters XML 1.0 cannot carry (control
// characters other than tab, newline, carriage return) dropped.
std::string xml_escape(std::string_view text);

// junit.xml's content for results.json's content.
std::string junit_xml(const Json& results, const std::string& test_name);

}  // namespace faultline::report
