"""Tests of anyoauth.Client, one file per behaviour: logging in, the device grant, discovery,
client authentication, keeping a token, the Auth adapter, requests, revoke and introspect."""
