package web

// WalletMessage is what a payer reads for a refusal of the wallet form.
var WalletMessage = walletMessage
