#include "CGPIO.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/gpio.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int fusebox_gpio_open_input(const char *chip, unsigned int line, char *error, size_t error_size) {
    int chip_fd = open(chip, O_RDONLY | O_CLOEXEC);
    if (chip_fd < 0) {
        snprintf(error, error_size, "cannot open %s: %s", chip, strerror(errno));
        return -1;
    }
    struct gpio_v2_line_request request;
    memset(&request, 0, sizeof request);
    request.offsets[0] = line;
    request.num_lines = 1;
    request.config.flags = GPIO_V2_LINE_FLAG_INPUT;
    strncpy(request.consumer, "fusebox ripple", sizeof request.consumer - 1);
    int result = ioctl(chip_fd, GPIO_V2_GET_LINE_IOCTL, &request);
    int saved = errno;
    close(chip_fd);
    if (result < 0) {
        snprintf(error, error_size, "%s line %u: cannot request it as an input: %s", chip, line, strerror(saved));
        return -1;
    }
    return request.fd;
}

int fusebox_gpio_read(int fd, char *error, size_t error_size) {
    struct gpio_v2_line_values values;
    memset(&values, 0, sizeof values);
    values.mask = 1;
    if (ioctl(fd, GPIO_V2_LINE_GET_VALUES_IOCTL, &values) < 0) {
        snprintf(error, error_size, "cannot read the line: %s", strerror(errno));
        return -1;
    }
    return (int)(values.bits & 1);
}

void fusebox_gpio_close(int fd) {
    if (fd >= 0) close(fd);
}
