package web

// ComplianceMessage exports complianceMessage to the tests.
var ComplianceMessage = complianceMessage
