"""Object Storage on the Linode API side: clusters, endpoints, buckets and access keys."""
