#include <modbus.h>
#include <errno.h>
