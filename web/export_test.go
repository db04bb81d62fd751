package web

// Catalogue is the pages' message catalogue, for the tests.
var Catalogue = catalogue

// PayerMessage and CardError are what a payer reads for an error.
var (
	PayerMessage = payerMessage
	CardError    = cardError
)
