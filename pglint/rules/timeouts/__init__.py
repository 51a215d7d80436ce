"""PGL3xx: timeouts, circuit breakers and backpressure (queues)."""
