{
  "algorithm": "ed25519",
  "key_id": "b6dd4d95ded64813",
  "signature": "bzapcqGfrr8A1xoy02lOidl6eGjtFhiaHXxJL4DQGVSMax+GysujnUjnra1vDUTKti+bKsLZ8GK3Rzi5Sd0aDA=="
}
