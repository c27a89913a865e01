package natsbus

import "time"

// DefaultAckWait is the services' consumers' AckWait: how long a message
// held by a consumer that died waits before another consumer gets it.
// Messages held longer are kept with heartbeats (laneSubscriber).
const DefaultAckWait = 4 * time.Second

// DefaultMaxHandle is RouterConfig.MaxHandle's default: longer than any
// handler of ours runs (a key wait plus Twilio's retries and a Retry-After).
const DefaultMaxHandle = 2 * time.Minute
