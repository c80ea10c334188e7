"""The lab's API server: storage, REST handlers, watches, patches, discovery, streams, certificates.
Imports only the lab's own modules and `wizard.errors`."""
