/* nn2mcu: start-up code for the MPS2 boards QEMU emulates (mps2-an386 Cortex-M4F,
 * mps2-an500 Cortex-M7), linked with target/mps2.ld and newlib's semihosting library
 * (--specs=rdimon.specs, -nostartfiles).
 *
 * Reset_Handler enables the FPU, copies .data, zeroes .bss, opens semihosting stdio,
 * runs the constructors, takes argv from the debugger (SYS_GET_CMDLINE) and calls
 * exit(main(argc, argv)). A fault prints its name, the faulting PC and, when nn.c is
 * built with NN_PROFILE, the kernel call that was running, then exits with status
 * NN_FAULT_EXIT. On a real board replace this file by the vendor's start-up code.
 */
#include <stdint.h>
#include <stdlib.h>

#define NN_FAULT_EXIT 0x7E
#define NN_MAX_ARGS 8

extern uint32_t __data_start__, __data_end__, __data_load__;
extern uint32_t __bss_start__, __bss_end__, __stack_top__;
extern int main(int argc, char **argv);
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);
/* the kernel call running now (nn.c with NN_PROFILE), -1 outside nn_run */
extern volatile int32_t nn_current_call __attribute__((weak));

void Reset_Handler(void);
void nn_fault_handler(void);
void _init(void);
void _fini(void);

void _init(void) {}
void _fini(void) {}

static int semihost(int operation, void *argument)
{
    register int r0 __asm__("r0") = operation;
    register void *r1 __asm__("r1") = argument;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static void semihost_write(const char *text)
{
    semihost(0x04, (void *)text); /* SYS_WRITE0 */
}

static void semihost_exit(int status)
{
    uint32_t block[2] = {0x20026u, (uint32_t)status}; /* ADP_Stopped_ApplicationExit */
    semihost(0x20, block);                            /* SYS_EXIT_EXTENDED */
    for (;;) {
    }
}

static void write_number(const char *label, uint32_t value, int hex)
{
    char text[16];
    int n = (int)sizeof text - 1;
    text[n] = '\0';
    do {
        uint32_t digit = hex ? value % 16u : value % 10u;
        text[--n] = (char)(digit < 10u ? '0' + digit : 'a' + digit - 10u);
        value = hex ? value / 16u : value / 10u;
    } while (value != 0u && n > 0);
    semihost_write(label);
    semihost_write(&text[n]);
}

static void fault(const char *name, const uint32_t *frame)
{
    semihost_write("nn2mcu: ");
    semihost_write(name);
    write_number(" at pc 0x", frame[6], 1);
    if (&nn_current_call != 0 && nn_current_call >= 0) {
        write_number(" in kernel call ", (uint32_t)nn_current_call, 0);
    }
    semihost_write("\n");
    semihost_exit(NN_FAULT_EXIT);
}

#define NN_FAULT(handler, name)                                                  \
    void handler(void) __attribute__((naked));                                    \
    void handler##_c(const uint32_t *frame);                                      \
    void handler##_c(const uint32_t *frame) { fault(name, frame); }               \
    void handler(void)                                                            \
    {                                                                             \
        __asm__ volatile("tst lr, #4\n ite eq\n mrseq r0, msp\n mrsne r0, psp\n" \
                         "b " #handler "_c\n");                                   \
    }

NN_FAULT(HardFault_Handler, "HardFault")
NN_FAULT(MemManage_Handler, "MemManage fault")
NN_FAULT(BusFault_Handler, "BusFault")
NN_FAULT(UsageFault_Handler, "UsageFault")
NN_FAULT(NMI_Handler, "NMI")
NN_FAULT(Default_Handler, "unexpected interrupt")

typedef void (*nn_vector)(void);

__attribute__((section(".vectors"), used)) static const nn_vector nn_vectors[16] = {
    (nn_vector)(uintptr_t)&__stack_top__,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    0,
    0,
    0,
    0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMonitor */
    0,
    Default_Handler, /* PendSV */
    Default_Handler, /* SysTick */
};

static char nn_command_line[256];
static char *nn_argv[NN_MAX_ARGS + 1];

static int command_line_arguments(void)
{
    uint32_t block[2] = {(uint32_t)(uintptr_t)nn_command_line, sizeof nn_command_line - 1u};
    int argc = 0;
    if (semihost(0x15, block) != 0) { /* SYS_GET_CMDLINE */
        nn_argv[0] = (char *)"nn";
        nn_argv[1] = 0;
        return 1;
    }
    nn_command_line[block[1]] = '\0';
    char *p = nn_command_line;
    while (*p != '\0' && argc < NN_MAX_ARGS) {
        while (*p == ' ') {
            *p++ = '\0';
        }
        if (*p == '\0') {
            break;
        }
        nn_argv[argc++] = p;
        while (*p != '\0' && *p != ' ') {
            p++;
        }
    }
    nn_argv[argc] = 0;
    return argc;
}

void Reset_Handler(void)
{
#if defined(__ARM_FP)
    /* CPACR: full access to CP10 and CP11 before any floating-point instruction */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n isb" ::: "memory");
#endif
    /* enable the MemManage, BusFault and UsageFault handlers (SHCSR) */
    *(volatile uint32_t *)0xE000ED24u |= 7u << 16;
    const uint32_t *source = &__data_load__;
    for (uint32_t *p = &__data_start__; p < &__data_end__;) {
        *p++ = *source++;
    }
    for (uint32_t *p = &__bss_start__; p < &__bss_end__;) {
        *p++ = 0u;
    }
    initialise_monitor_handles();
    __libc_init_array();
    int argc = command_line_arguments();
    exit(main(argc, nn_argv));
}
