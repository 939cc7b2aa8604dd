#ifndef CGPIO_H
#define CGPIO_H

#include <stddef.h>

/* One GPIO line as an input, through the Linux GPIO character device (uAPI v2,
   the interface libgpiod wraps). Returns the line's file descriptor, or -1 with
   a message in `error`. */
int fusebox_gpio_open_input(const char *chip, unsigned int line, char *error, size_t error_size);

/* 1 or 0, or -1 with a message in `error`. */
int fusebox_gpio_read(int fd, char *error, size_t error_size);

void fusebox_gpio_close(int fd);

#endif
