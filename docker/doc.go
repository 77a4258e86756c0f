// Package docker holds the container image definition (Dockerfile) of docker-compose.yml; it has no Go code.
// Its test validates docker-compose.yml with Debian's docker-compose, which needs no Docker engine.
package docker
