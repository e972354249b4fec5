package plugin

import "context"

// Base is what every plugin implements, whatever its type: the interface of
// each type (backend.Backend, logsink.Sink) embeds it.
type Base interface {
	Describer
	Configurer
}

// Describer says what the plugin is. The host calls Info first, before
// Configure, to check the plugin's type and pick the API version, so the
// answer must not depend on the config.
type Describer interface {
	Info(ctx context.Context) (Info, error)
}

// Configurer receives the plugin's `config {}` block, a JSON object (decode
// it with DecodeConfig, which refuses unknown attributes), and the API
// version the host negotiated, one of those Info announced. The host calls
// it before any other operation but Info, and again after every relaunch of
// the plugin process; each plugin type says when else it may come. A bad
// config is an invalid-argument error naming the attribute.
type Configurer interface {
	Configure(ctx context.Context, config []byte, apiVersion int) error
}
