module github.com/samizdat-project/samizdat

go 1.26.0

require (
	github.com/cloudflare/circl v1.6.5 // indirect
	golang.org/x/crypto v0.58.0 // indirect
)
