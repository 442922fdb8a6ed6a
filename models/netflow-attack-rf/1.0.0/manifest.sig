{
  "algorithm": "ed25519",
  "key_id": "b6dd4d95ded64813",
  "signature": "njlhEAob7LiB5y+PiVjPpsailVXiYRi531SmGtNPhkeaW7RHJkL7CxS5/gLMDJKmePpmQ6gezSO0aIsfnoCTCw=="
}
