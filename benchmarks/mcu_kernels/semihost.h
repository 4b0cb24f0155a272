#ifndef MCU_SEMIHOST_H
#define MCU_SEMIHOST_H
void sh_puts(const char *s);
void sh_exit(int ok);
#endif
