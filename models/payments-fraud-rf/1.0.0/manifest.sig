{
  "algorithm": "ed25519",
  "key_id": "b6dd4d95ded64813",
  "signature": "+jruRR0Iuz8M2msyXcEpYpK0zvK4Qkv5hbWzYracc+JVYanjPKnn4pWeQu68VF2diJBgrHXe7XQjqbn0oTT+Dg=="
}
